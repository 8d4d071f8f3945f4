"""Property-based tests of the pipeline's failure paths: the model's walk and a stateful model, both driving
the pipeline's own decision code (`lambdas/common/pipeline_common`), and the mutants that prove they fail."""
