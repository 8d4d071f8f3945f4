"""The pipeline on LocalStack and PostgreSQL: deployment zips (`packaging`), the stack deployed under a
prefix (`pipeline`), its database (`database`, `db_server`), and the services a run uses (`resources`).
"""
