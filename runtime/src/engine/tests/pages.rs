//! List pages hold at most `Limits::max_page_size` items, whatever the request asks for.

use super::*;

fn capped(max_page_size: usize, namespaces: Vec<String>) -> Harness {
    let mut cfg = config();
    cfg.limits.max_page_size = max_page_size;
    cfg.namespaces = namespaces;
    Harness::on(Engine::in_memory(cfg))
}

#[tokio::test]
async fn workflow_lists_are_paged_at_the_limit() {
    let h = capped(3, vec![NS.into()]);
    for i in 0..5 {
        h.start(&format!("listed-{i}")).await;
    }
    let mut seen = Vec::new();
    let mut token = Vec::new();
    for page in 0.. {
        let req = ListWorkflowExecutionsRequest {
            namespace: NS.into(),
            page_size: i32::MAX,
            next_page_token: token,
            ..Default::default()
        };
        let resp = h
            .engine
            .list_workflow_executions(Request::new(req))
            .await
            .expect("list")
            .into_inner();
        assert!(
            resp.executions.len() <= 3,
            "page {page} holds {} executions",
            resp.executions.len()
        );
        seen.extend(resp.executions.into_iter().filter_map(|e| e.execution));
        token = resp.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 5, "every run is listed once");
    // A page size of zero or less asks for the default, which the limit caps too.
    for page_size in [0, -1] {
        let req = ListWorkflowExecutionsRequest {
            namespace: NS.into(),
            page_size,
            ..Default::default()
        };
        let resp = h
            .engine
            .list_workflow_executions(Request::new(req))
            .await
            .expect("list")
            .into_inner();
        assert_eq!(resp.executions.len(), 3);
        assert!(!resp.next_page_token.is_empty());
    }
}

#[tokio::test]
async fn namespace_lists_are_paged_at_the_limit() {
    let names: Vec<String> = (0..5).map(|i| format!("ns-{i}")).collect();
    let h = capped(2, names.clone());
    let mut seen = Vec::new();
    let mut token = Vec::new();
    for page in 0.. {
        let req = ListNamespacesRequest {
            page_size: i32::MAX,
            next_page_token: token,
            ..Default::default()
        };
        let resp = h
            .engine
            .list_namespaces(Request::new(req))
            .await
            .expect("list namespaces")
            .into_inner();
        assert!(
            resp.namespaces.len() <= 2,
            "page {page} holds {} namespaces",
            resp.namespaces.len()
        );
        seen.extend(
            resp.namespaces
                .into_iter()
                .filter_map(|n| n.namespace_info.map(|i| i.name)),
        );
        token = resp.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, names);
    let bad = ListNamespacesRequest {
        next_page_token: b"garbage".to_vec(),
        ..Default::default()
    };
    expect_code(
        h.engine.list_namespaces(Request::new(bad)).await,
        Code::InvalidArgument,
    );
}
