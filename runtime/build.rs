//! Generates the WorkflowService server trait (and, with the `remote` feature, its client) from
//! the descriptor set that `temporalio-protos` publishes, reusing that crate's message types, so
//! no `.proto` file is copied here and no system `protoc` is needed.
//!
//! Only the RPCs of [`SERVED`] are generated: the ones the engine implements and the SDK calls.
//! Each generated RPC costs the build its request and response codecs, on the server and on the
//! client; the other hundred would be compiled only to answer UNIMPLEMENTED, which the server
//! answers for them without code of their own.

use heck::ToSnakeCase;
use prost::Message;
use std::{env, error::Error, fs, path::PathBuf};

const SERVICE_FILE: &str = "temporal/api/workflowservice/v1/service.proto";

/// The WorkflowService RPCs of the seam: what the engine implements (and `dacapo server` serves)
/// and what the SDK calls. A new RPC is added here, implemented in `engine/service.rs` and, when
/// the SDK calls it, in `client.rs` or `worker/`.
const SERVED: &[&str] = &[
    "GetSystemInfo",
    "DescribeNamespace",
    "ListNamespaces",
    "StartWorkflowExecution",
    "SignalWithStartWorkflowExecution",
    "SignalWorkflowExecution",
    "RequestCancelWorkflowExecution",
    "TerminateWorkflowExecution",
    "DescribeWorkflowExecution",
    "GetWorkflowExecutionHistory",
    "ListWorkflowExecutions",
    "CountWorkflowExecutions",
    "PollWorkflowTaskQueue",
    "RespondWorkflowTaskCompleted",
    "RespondWorkflowTaskFailed",
    "QueryWorkflow",
    "RespondQueryTaskCompleted",
    "UpdateWorkflowExecution",
    "PollWorkflowExecutionUpdate",
    "ExecuteMultiOperation",
    "PollActivityTaskQueue",
    "RecordActivityTaskHeartbeat",
    "RecordActivityTaskHeartbeatById",
    "RespondActivityTaskCompleted",
    "RespondActivityTaskCompletedById",
    "RespondActivityTaskFailed",
    "RespondActivityTaskFailedById",
    "RespondActivityTaskCanceled",
    "RespondActivityTaskCanceledById",
    // Called by the worker when it stops (Temporal then hands its sticky tasks to the normal
    // queue); the engine answers UNIMPLEMENTED, which the worker ignores.
    "ShutdownWorker",
];

fn main() -> Result<(), Box<dyn Error>> {
    let descriptor_path = env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .map_err(|_| "temporalio-protos did not publish its descriptor set path")?;
    println!("cargo:rerun-if-changed={descriptor_path}");
    println!("cargo:rerun-if-env-changed=DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH");
    let bytes = fs::read(&descriptor_path)?;
    let mut set = prost_types::FileDescriptorSet::decode(bytes.as_slice())?;
    write_history_descriptors(
        &set,
        &PathBuf::from(env::var("OUT_DIR")?).join("history_descriptors.bin"),
    )?;
    set.file.retain(|f| f.name.as_deref() == Some(SERVICE_FILE));
    if set.file.is_empty() {
        return Err(format!("{SERVICE_FILE} is missing from {descriptor_path}").into());
    }
    let mut all_rpcs = Vec::new();
    for service in set.file.iter_mut().flat_map(|f| f.service.iter_mut()) {
        if service.name.as_deref() == Some("WorkflowService") {
            all_rpcs.extend(service.method.iter().filter_map(|m| m.name.clone()));
            service
                .method
                .retain(|m| m.name.as_deref().is_some_and(|n| SERVED.contains(&n)));
        }
    }
    if let Some(missing) = SERVED.iter().find(|n| !all_rpcs.iter().any(|r| r == *n)) {
        return Err(format!("WorkflowService has no RPC {missing} in {descriptor_path}").into());
    }
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let filtered = out.join("workflowservice.bin");
    fs::write(&filtered, set.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(env::var_os("CARGO_FEATURE_REMOTE").is_some())
        .build_transport(false)
        .generate_default_stubs(true)
        .skip_protoc_run()
        .file_descriptor_set_path(&filtered)
        .extern_path(".temporal", "::temporalio_protos::temporal")
        .extern_path(".google", "::prost_wkt_types")
        .compile_protos(&[SERVICE_FILE], &["."])?;

    let rpcs: Vec<(String, String, String, String)> = set
        .file
        .iter()
        .flat_map(|f| f.service.iter())
        .filter(|s| s.name.as_deref() == Some("WorkflowService"))
        .flat_map(|s| s.method.iter())
        .map(|m| {
            let name = m.name.clone().unwrap_or_default();
            let last = |t: &Option<String>| {
                t.as_deref()
                    .unwrap_or_default()
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            };
            (
                name.to_snake_case(),
                name,
                last(&m.input_type),
                last(&m.output_type),
            )
        })
        .collect();
    name_unimplemented_rpcs(&out.join("temporal.api.workflowservice.v1.rs"), &rpcs)?;
    write_rpc_list(&out.join("rpc_list.rs"), &rpcs)?;
    write_unserved(&out.join("unserved_rpcs.rs"), &all_rpcs)?;
    Ok(())
}

/// The descriptors of `temporal.api.history.v1` and everything it imports, embedded in the
/// library: the store reads the schema from them to measure how deeply stored messages nest, and
/// the `history-json` feature to read and write histories as proto JSON (the form Temporal's
/// tools print).
fn write_history_descriptors(
    set: &prost_types::FileDescriptorSet,
    path: &std::path::Path,
) -> Result<(), Box<dyn Error>> {
    let mut wanted = vec!["temporal/api/history/v1/message.proto".to_string()];
    let mut keep = std::collections::BTreeSet::new();
    while let Some(name) = wanted.pop() {
        if !keep.insert(name.clone()) {
            continue;
        }
        if let Some(f) = set
            .file
            .iter()
            .find(|f| f.name.as_deref() == Some(name.as_str()))
        {
            wanted.extend(f.dependency.iter().cloned());
        }
    }
    let mut out = set.clone();
    out.file
        .retain(|f| f.name.as_ref().is_some_and(|n| keep.contains(n)));
    fs::write(path, out.encode_to_vec())?;
    Ok(())
}

/// The generated default stubs answer "Not yet implemented"; make each name its RPC.
fn name_unimplemented_rpcs(
    path: &std::path::Path,
    rpcs: &[(String, String, String, String)],
) -> Result<(), Box<dyn Error>> {
    let code = fs::read_to_string(path)?;
    let mut out = String::with_capacity(code.len() + 8192);
    let mut current: Option<&str> = None;
    for line in code.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("async fn ") {
            let fn_name = rest.split('(').next().unwrap_or_default();
            current = rpcs.iter().find(|r| r.0 == fn_name).map(|r| r.1.as_str());
        }
        match (current, line.contains("\"Not yet implemented\"")) {
            (Some(rpc), true) => out.push_str(&line.replace(
                "\"Not yet implemented\"",
                &format!("\"dacapo does not implement the WorkflowService RPC {rpc}\""),
            )),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    fs::write(path, out)?;
    Ok(())
}

/// `with_rpcs!(m)` calls `m!` with every RPC as `(snake_name, RequestType, ResponseType)`, so
/// delegating implementations of the trait need not list 120 methods by hand.
fn write_rpc_list(
    path: &std::path::Path,
    rpcs: &[(String, String, String, String)],
) -> Result<(), Box<dyn Error>> {
    let mut s = String::from("macro_rules! with_rpcs {\n    ($m:ident) => {\n        $m! {\n");
    for (snake, _, input, output) in rpcs {
        s.push_str(&format!("            ({snake}, {input}, {output}),\n"));
    }
    s.push_str("        }\n    };\n}\n");
    fs::write(path, s)?;
    Ok(())
}

/// `UNSERVED_RPCS`: the WorkflowService RPCs not in [`SERVED`], which the server answers
/// UNIMPLEMENTED by name.
fn write_unserved(path: &std::path::Path, all_rpcs: &[String]) -> Result<(), Box<dyn Error>> {
    let mut s = String::from(
        "/// The WorkflowService RPCs this build does not serve.\npub const UNSERVED_RPCS: &[&str] = &[\n",
    );
    for rpc in all_rpcs.iter().filter(|r| !SERVED.contains(&r.as_str())) {
        s.push_str(&format!("    {rpc:?},\n"));
    }
    s.push_str("];\n");
    fs::write(path, s)?;
    Ok(())
}
