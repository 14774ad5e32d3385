//! Runs examples/pipeline.rs, so the library's end-to-end example keeps compiling and
//! working: extract -> learn -> analyze without the command line.

#[path = "../examples/pipeline.rs"]
mod pipeline;

#[test]
fn the_pipeline_example_runs() {
    pipeline::main().unwrap();
}
