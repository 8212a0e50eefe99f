//! `SharedService`: any [`ServiceHandle`] as a sized WorkflowService, which tonic's generated
//! server needs.

use crate::proto::{RpcResult, ServiceHandle, WorkflowService, service, with_rpcs};

/// Any [`ServiceHandle`] as a sized WorkflowService, so it can be served with tonic.
#[derive(Clone)]
pub(crate) struct SharedService(pub(crate) ServiceHandle);

impl std::fmt::Debug for SharedService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedService")
    }
}

macro_rules! delegate_shared {
    ($(($name:ident, $req:ident, $resp:ident)),* $(,)?) => {
        #[tonic::async_trait]
        impl WorkflowService for SharedService {
            $(
                async fn $name(&self, request: tonic::Request<service::$req>) -> RpcResult<service::$resp> {
                    self.0.$name(request).await
                }
            )*
        }
    };
}
with_rpcs!(delegate_shared);
