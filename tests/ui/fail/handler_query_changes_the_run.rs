use dacapo::prelude::*;
use std::time::Duration;

const STATUS: Query<(), u32> = Query::new("status");
const APPROVE: Signal<u32> = Signal::new("approve");

#[activity]
async fn audit(_ctx: ActivityContext, count: u32) -> Result<u32, ActivityError> {
    Ok(count)
}

#[workflow]
async fn order(ctx: WorkflowContext) -> WorkflowResult<u32> {
    let state = ctx.state(0u32);
    let mut approvals = ctx.signal_channel(APPROVE);
    let mut asked = 0u32;
    ctx.on_query(STATUS, {
        let s = state.clone();
        let ctx = ctx.clone();
        move |()| {
            let extra = std::future::ready(1u32).await;
            ctx.sleep(Duration::from_secs(1)).await;
            s.set(1);
            asked += 1;
            Ok::<_, String>(s.get() + extra)
        }
    });
    ctx.on_query(STATUS, move |()| {
        let _ = approvals.try_recv();
        Ok::<_, String>(0)
    });
    ctx.on_query(STATUS, {
        let ctx = ctx.clone();
        async move |()| ctx.activity(audit, 1).await.map_err(|e| e.to_string())
    });
    let s = state.clone();
    ctx.on_query(STATUS, move |()| async move { Ok::<_, String>(s.get()) });
    let _ = asked;
    Ok(state.get())
}

fn main() {}
