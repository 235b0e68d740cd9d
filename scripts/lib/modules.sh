# Sourced by common.sh, for the scripts that start a game. Module libraries
# are mapped into the running game: overwriting one in place (cp -f onto a
# loaded .so) crashes that game (SIGBUS). So every run copies its libraries
# into a modules folder of its own, target/run/NAME-PID/modules, and folders
# of runs that ended are removed at the next start.

# stage_modules NAME LIB...: sets $modules to a fresh folder holding LIB...
stage_modules() {
  local name=$1
  shift
  local runs="$target_dir/run"
  mkdir -p "$runs"
  local dir pid
  for dir in "$runs"/*-*; do
    [ -d "$dir" ] || continue
    pid=${dir##*-}
    if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2> /dev/null; then
      rm -rf "$dir"
    fi
  done
  modules="$runs/$name-$$/modules"
  rm -rf "$modules"
  mkdir -p "$modules"
  cp "$@" "$modules/"
}
