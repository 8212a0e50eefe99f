//! How the starter and cancel examples reach a running engine, shared by both.

use dacapo::Client;
use dacapo::remote::{ConnectError, ConnectOptions, connect};

/// The WorkflowService to call and how.
#[derive(clap::Args, Debug)]
pub struct Connection {
    /// The WorkflowService to call.
    #[arg(long, default_value = "http://127.0.0.1:7233")]
    pub address: String,
    /// The namespace.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// API key sent as `authorization: Bearer KEY`.
    #[arg(long)]
    pub api_key: Option<String>,
}

impl Connection {
    /// Connects and returns a client of the namespace.
    pub async fn client(self) -> Result<Client, ConnectError> {
        let options = ConnectOptions {
            api_key: self.api_key,
            ..Default::default()
        };
        let service = connect(&self.address, options).await?;
        Ok(Client::new(service).with_namespace(&self.namespace))
    }
}
