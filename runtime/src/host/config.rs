//! Module configuration: `--set module.key=value` and the environment.

use std::collections::HashMap;

/// Configuration for every module, looked up as `module.key`.
///
/// A value given with [`Config::set`] wins over the environment variable
/// `FIASCO_MODULE_KEY` (upper case; `-` and `.` become `_`).
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: HashMap<String, String>,
    use_env: bool,
}

/// A `--set` argument that is not `module.key=value`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not of the form module.key=value")]
pub struct ConfigSyntaxError(pub String);

impl Config {
    /// An empty configuration that also reads the environment.
    pub fn from_env() -> Self {
        Self {
            values: HashMap::new(),
            use_env: true,
        }
    }

    /// Sets `module.key` to `value`.
    pub fn set(&mut self, module: &str, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(format!("{module}.{key}"), value.into());
        self
    }

    /// Parses and sets one `module.key=value` assignment.
    pub fn set_assignment(&mut self, assignment: &str) -> Result<&mut Self, ConfigSyntaxError> {
        let bad = || ConfigSyntaxError(assignment.to_owned());
        let (name, value) = assignment.split_once('=').ok_or_else(bad)?;
        let (module, key) = name.split_once('.').ok_or_else(bad)?;
        if module.is_empty() || key.is_empty() {
            return Err(bad());
        }
        Ok(self.set(module, key, value))
    }

    /// The value of `module.key`, if set.
    pub fn get(&self, module: &str, key: &str) -> Option<String> {
        if let Some(value) = self.values.get(&format!("{module}.{key}")) {
            return Some(value.clone());
        }
        if !self.use_env {
            return None;
        }
        let name = format!("FIASCO_{module}_{key}")
            .to_ascii_uppercase()
            .replace(['-', '.'], "_");
        std::env::var(name).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_parse_and_bad_ones_are_refused() {
        let mut config = Config::default();
        config.set_assignment("echo.port=9001").map(|_| ()).ok();
        assert_eq!(config.get("echo", "port").as_deref(), Some("9001"));
        assert!(config.set_assignment("noequals").is_err());
        assert!(config.set_assignment("nodot=1").is_err());
        assert!(config.set_assignment(".key=1").is_err());
    }
}
