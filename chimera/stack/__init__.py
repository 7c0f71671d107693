"""The embedded default stack (DESIGN §2): Tansu, redis-server and the chdb owner as background
processes with pid files and logs in the data dir; `chimera up` / `status` / `down`."""
