"""`harness soak FILE`: many nights of the seed pipeline on one stack, on the stack's clock, with a seeded fault
plan per night; invariants checked per night and over the soak, and the on-call view of what a person would
have received.

- `document`: the soak file's format (`load_soak`), validated as a scenario file is;
- `nights`: the plan, drawn from the seed (`plan_nights`);
- `view`: one night's part of the stack's observations, for the expectation engine;
- `run`: running the nights on a stack (`run_soak`);
- `oncall`: what a person received, night by night, each message a true or a false alarm, and the invariants
  over the soak;
- `report`: the terminal table, the JSON and the HTML page.
"""
