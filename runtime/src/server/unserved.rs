//! `Unserved`: answers the WorkflowService RPCs this build does not generate with UNIMPLEMENTED
//! and a message that names the RPC, as the generated stubs do for the ones it does.
//!
//! Only the RPCs dacapo serves are generated (see `build.rs`); for any other path the generated
//! server answers a bare UNIMPLEMENTED. This layer sits in front of it, behind the API key check,
//! so a caller learns which RPC is missing without a line of code per RPC.

use crate::proto::UNSERVED_RPCS;
use futures::future::Either;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};
use tonic::server::NamedService;
use tower_service::Service;

/// Wraps the generated WorkflowService server.
#[derive(Debug, Clone)]
pub(super) struct Unserved<S>(pub(super) S);

impl<S: NamedService> NamedService for Unserved<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for Unserved<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    /// The generated server's future, or the answer for an RPC it does not know.
    type Future = Either<Ready<Result<Self::Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let rpc = request.uri().path().rsplit('/').next().unwrap_or_default();
        if UNSERVED_RPCS.contains(&rpc) {
            let status = tonic::Status::unimplemented(format!(
                "dacapo does not implement the WorkflowService RPC {rpc}"
            ));
            return Either::Left(ready(Ok(status.into_http())));
        }
        Either::Right(self.0.call(request))
    }
}
