//! Generates the WorkflowService *server* trait from the descriptor set that `temporalio-protos`
//! publishes, reusing that crate's message types, so no `.proto` file is copied here and no
//! system `protoc` is needed.

use prost::Message;
use std::{env, error::Error, fs, path::PathBuf};

const SERVICE_FILE: &str = "temporal/api/workflowservice/v1/service.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let descriptor_path = env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .map_err(|_| "temporalio-protos did not publish its descriptor set path")?;
    println!("cargo:rerun-if-changed={descriptor_path}");
    println!("cargo:rerun-if-env-changed=DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH");
    let bytes = fs::read(&descriptor_path)?;
    let mut set = prost_types::FileDescriptorSet::decode(bytes.as_slice())?;
    set.file.retain(|f| f.name.as_deref() == Some(SERVICE_FILE));
    if set.file.is_empty() {
        return Err(format!("{SERVICE_FILE} is missing from {descriptor_path}").into());
    }
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let filtered = out.join("workflowservice.bin");
    fs::write(&filtered, set.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .generate_default_stubs(true)
        .skip_protoc_run()
        .file_descriptor_set_path(&filtered)
        .extern_path(".temporal", "::temporalio_protos::temporal")
        .extern_path(".google", "::prost_wkt_types")
        .compile_protos(&[SERVICE_FILE], &["."])?;
    Ok(())
}
