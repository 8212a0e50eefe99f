use dacapo::prelude::*;

#[workflow]
async fn ping(ctx: WorkflowContext) -> WorkflowResult<bool> {
    let _ = ctx;
    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0").await;
    Ok(socket.is_ok())
}

fn main() {}
