"""Test scaffolding: fake observations, a fake clock and the scripted stand-in for the pipeline on a stack
(`fakes`, `simulated`), the database reads only tests make (`database`), and waiting on a tap (`taps`)."""
