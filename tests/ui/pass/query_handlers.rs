//! Query handlers that only read: what the handler check lets through.
#![deny(warnings)]

use dacapo::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Status {
    Pending,
    Shipped { items: Vec<String> },
}

const STATUS: Query<(), Status> = Query::new("status");
const SUMMARY: Query<bool, String> = Query::new("summary");
const COUNT: Query<(), usize> = Query::new("count");

fn count_of(status: &WorkflowState<Status>) -> impl Fn(()) -> Result<usize, String> + Send + 'static {
    let status = status.clone();
    move |()| {
        Ok(status.with(|s| match s {
            Status::Pending => 0,
            Status::Shipped { items } => items.len(),
        }))
    }
}

#[workflow]
async fn order(ctx: WorkflowContext) -> WorkflowResult<String> {
    let status = ctx.state(Status::Pending);
    ctx.on_query(STATUS, {
        let s = status.clone();
        move |()| Ok::<_, String>(s.get())
    });
    ctx.on_query(SUMMARY, {
        let s = status.clone();
        move |verbose: bool| {
            let mut lines = Vec::new();
            let mut total = 0;
            if let Status::Shipped { items } = s.get() {
                for item in &items {
                    total += 1;
                    lines.push(item.clone());
                }
            }
            let mut summary = format!("{total} items");
            if verbose {
                summary += &format!(": {}", lines.join(", "));
            }
            Ok::<_, &str>(summary)
        }
    });
    ctx.on_query(COUNT, count_of(&status));
    status.set(Status::Shipped {
        items: vec!["book".to_string()],
    });
    Ok(format!("{:?}", status.get()))
}

fn main() {
    let _ = order;
}
