use dacapo::prelude::*;

#[workflow]
async fn ping(ctx: WorkflowContext) -> WorkflowResult<bool> {
    let _ = ctx;
    let stream = std::net::TcpStream::connect("127.0.0.1:80");
    Ok(stream.is_ok())
}

fn main() {}
