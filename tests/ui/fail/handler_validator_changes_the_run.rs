use dacapo::prelude::*;
use std::time::Duration;

const SET_LIMIT: Update<u32, u32> = Update::new("set_limit");

#[activity]
async fn audit(_ctx: ActivityContext, limit: u32) -> Result<u32, ActivityError> {
    Ok(limit)
}

#[workflow]
async fn limited(ctx: WorkflowContext) -> WorkflowResult<u32> {
    let limit = ctx.state(10u32);
    let mut checked = 0u32;
    // The handler may await, sleep and start activities; its validator may not.
    ctx.on_update(SET_LIMIT, {
        let (ctx, limit) = (ctx.clone(), limit.clone());
        move |new: u32| {
            let (ctx, limit) = (ctx.clone(), limit.clone());
            async move {
                ctx.activity(audit, new).await.map_err(|e| e.to_string())?;
                ctx.sleep(Duration::from_secs(1)).await.map_err(|e| e.to_string())?;
                limit.set(new);
                Ok::<_, String>(new)
            }
        }
    })
    .validator({
        let limit = limit.clone();
        move |new: &u32| {
            limit.set(*new);
            checked += 1;
            if *new > 0 { Ok(()) } else { Err("the limit must be positive") }
        }
    });
    ctx.on_update(SET_LIMIT, |new: u32| async move { Ok::<_, String>(new) })
        .validator(|_new: &u32| async { Ok::<(), String>(()) });
    let _ = checked;
    Ok(limit.get())
}

fn main() {}
