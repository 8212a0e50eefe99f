//! Awaited calls that are not activities keep working: the activity guard passes them through.
#![deny(warnings)]

use dacapo::prelude::*;
use std::fmt::Debug;
use std::future::Future;

async fn add(a: u64, b: u64) -> u64 {
    a + b
}

async fn echo<T: Debug>(value: T) -> T {
    value
}

async fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or_default()
}

struct Pricing;

impl Pricing {
    async fn with_tax(amount: u64) -> u64 {
        amount * 6 / 5
    }
}

mod rules {
    pub async fn discount(amount: u64) -> u64 {
        amount / 10
    }
}

fn boxed<F: Future + Send + 'static>(
    future: F,
) -> std::pin::Pin<Box<dyn Future<Output = F::Output> + Send>> {
    Box::pin(future)
}

#[workflow]
async fn helpers(ctx: WorkflowContext, amount: u64) -> WorkflowResult<String> {
    let _ = ctx;
    let sum = add(amount, 1).await;
    let echoed = echo(sum).await;
    let named = echo::<&str>("total").await;
    let word = first_word("gross amount").await;
    let taxed = Pricing::with_tax(echoed).await;
    let discount = rules::discount(taxed).await;
    let later = boxed(async move { discount + 1 }).await;
    let pinned = Box::pin(add(later, 2)).await;
    let closure = |x: u64| async move { x * 2 };
    let doubled = closure(pinned).await;
    let again = closure(doubled).await;
    let inner = {
        async fn nested(x: u64) -> u64 {
            x + 3
        }
        nested(again).await
    };
    Ok(format!("{named} {word} {inner}"))
}

fn main() {
    let _ = helpers;
}
