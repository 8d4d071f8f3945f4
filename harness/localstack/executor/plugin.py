"""Registers the ``process`` runtime executor with LocalStack (entry point group
``localstack.lambda.runtime_executor``; selected by ``LAMBDA_RUNTIME_EXECUTOR=process``)."""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class ProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "process"

    def load(self, *args, **kwargs):
        from harness.localstack.executor.executor import ProcessRuntimeExecutor

        return ProcessRuntimeExecutor
