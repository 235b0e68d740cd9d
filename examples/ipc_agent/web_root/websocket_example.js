// The IPC Client: a plain WebSocket, same origin as the page (the game
// serves this folder), speaking the demo's own protocol (demo.fbs) through
// the generated, bundled bindings in demo_protocol.js.
import { Action, Builder, ByteBuffer, CommandMessage, GameMessage } from './demo_protocol.js';

const $ = (id) => document.getElementById(id);
const canvas = $('view');
const ctx = canvas.getContext('2d');
let socket = null;
let nextId = 1;
let states = 0;

function hex(color) {
  return '#' + color.toString(16).padStart(6, '0');
}

function draw(state) {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = hex(state.color());
  ctx.fillRect(state.x(), state.y(), state.size(), state.size());
  if (state.paused()) {
    ctx.fillStyle = '#e2e8f0';
    ctx.font = '20px system-ui';
    ctx.fillText('paused', 12, 28);
  }
}

function onGameMessage(bytes) {
  const message = GameMessage.getRootAsGameMessage(new ByteBuffer(bytes));
  const state = message.state();
  if (state) {
    states += 1;
    $('frame').textContent = String(state.frame());
    $('box').textContent = `x ${state.x().toFixed(0)}, y ${state.y().toFixed(0)}, speed ${state.speed()}, ` +
      `${hex(state.color())}${state.paused() ? ', paused' : ''}`;
    document.body.dataset.paused = String(state.paused());
    document.body.dataset.color = hex(state.color());
    draw(state);
  }
  const channel = message.channel();
  if (channel) {
    const role = channel.role() || 'none (the port needs no token)';
    $('role').textContent = role;
    document.body.dataset.role = channel.role() || '';
    const rtt = channel.roundTripUs();
    $('channel').textContent = `${channel.sentMessages()} sent, ${channel.queuedMessages()} queued ` +
      `(${channel.queuedBytes()} B), ${channel.conflatedMessages()} states skipped as stale, ` +
      `round trip ${rtt ? (rtt / 1000).toFixed(2) + ' ms' : '-'}`;
  }
  const ack = message.ack();
  if (ack) {
    const line = `#${ack.id()} ${ack.ok() ? 'ok' : 'refused'}: ${ack.text()}`;
    $('ack').textContent = line;
    const entry = document.createElement('div');
    entry.textContent = line;
    $('log').prepend(entry);
  }
}

function sendCommand(action, { speed = 0, color = 0 } = {}) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  const builder = new Builder(64);
  CommandMessage.startCommandMessage(builder);
  CommandMessage.addId(builder, nextId++);
  CommandMessage.addAction(builder, action);
  CommandMessage.addSpeed(builder, speed);
  CommandMessage.addColor(builder, color);
  builder.finish(CommandMessage.endCommandMessage(builder));
  socket.send(builder.asUint8Array());
}

// A token in the page's address (scripts/demo --roles prints one per role)
// goes on to the WebSocket: it decides the page's role.
const token = new URLSearchParams(location.search).get('token');

function connect() {
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  socket = new WebSocket(`ws://${location.host}/ws${query}`);
  socket.binaryType = 'arraybuffer';
  socket.onopen = () => { $('status').textContent = 'connected'; };
  socket.onmessage = (event) => onGameMessage(new Uint8Array(event.data));
  socket.onclose = (event) => {
    $('status').textContent = `closed (${event.code}${event.reason ? ': ' + event.reason : ''}); retrying`;
    setTimeout(connect, 1000);
  };
  socket.onerror = () => { $('status').textContent = 'error'; };
}

$('pause').onclick = () => sendCommand(Action.Pause);
$('resume').onclick = () => sendCommand(Action.Resume);
$('speed').oninput = (event) => sendCommand(Action.SetSpeed, { speed: Number(event.target.value) });
for (const swatch of document.querySelectorAll('.swatch')) {
  swatch.onclick = () => sendCommand(Action.SetColor, { color: parseInt(swatch.dataset.color, 16) });
}
setInterval(() => { $('rate').textContent = String(states); states = 0; }, 1000);
connect();
