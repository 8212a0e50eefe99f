//! Placeholder until the engine lands.
#![allow(missing_docs, missing_debug_implementations)]
use std::time::Duration;
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub namespaces: Vec<String>,
    pub long_poll_timeout: Duration,
}
impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            namespaces: vec!["default".into()],
            long_poll_timeout: Duration::from_secs(60),
        }
    }
}
#[derive(Debug, thiserror::Error)]
#[error("engine")]
pub struct EngineError;
#[derive(Clone)]
pub struct Engine;
impl Engine {
    pub fn in_memory(_c: EngineConfig) -> Self {
        Engine
    }
    pub fn open_sqlite(_p: &std::path::Path, _c: EngineConfig) -> Result<Self, EngineError> {
        Ok(Engine)
    }
    pub fn subscribe_activity_cancels(&self) -> tokio::sync::broadcast::Receiver<Vec<u8>> {
        tokio::sync::broadcast::channel(1).1
    }
    pub fn shutdown(&self) {}
}
impl crate::proto::WorkflowService for Engine {}
