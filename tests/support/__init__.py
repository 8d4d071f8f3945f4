"""Test scaffolding: fake observations, a fake clock and the scripted stand-in for the pipeline on a stack."""
