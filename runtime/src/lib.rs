pub mod proto {
    pub mod service {
        tonic::include_proto!("temporal.api.workflowservice.v1");
    }
}
