"""Tables of the iotflow surface. Append-only: never edit an applied statement, append a new one."""

MIGRATIONS: list[str] = []
