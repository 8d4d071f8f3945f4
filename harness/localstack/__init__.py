"""Everything of the harness that runs inside the LocalStack process: the stacks' clocks (`clock`), Lambda's
retries and event age on them (`retries`), CloudWatch on them (`alarms`), topic taps (`taps`), deploys
without idle waits (`control_plane`), the `process` Lambda executor (`executor/`), the harness's routes
(`routes`), all installed by `launch` from the one list of patches (`patches`), after checking that
LocalStack is the one they were written for.

Only this package imports LocalStack. It shares with the harness side only the base modules
(`harness.wire` above all: the routes, their JSON, the client, the stack clock's arithmetic).
"""
