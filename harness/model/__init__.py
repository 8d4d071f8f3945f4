"""The one model of the pipeline (`walk`) and of the platform under it (`platform`, `alarms`): what a
scenario makes happen and when, read by the validator, the floors and deadlines, and the unit tests' stand-in.
"""
