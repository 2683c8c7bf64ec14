"""The hot-path SQL (claim, heartbeat, decisions, reports), written once for every backend.

Statements use `:name` parameters (sqlite3's own style); `SQLStorage` rewrites them to
`%(name)s` for drivers that need it and runs them on the driver's cursor, skipping the
expression layer that would cost more than the transactions themselves.
"""

from __future__ import annotations

from collections import namedtuple

from popbt.storage._schema import members

MEMBER_FIELDS = [c.name for c in members.c]
MEMBER_COLS = ", ".join(MEMBER_FIELDS)
MemberRow = namedtuple("MemberRow", MEMBER_FIELDS)  # type: ignore[misc]
OWNED = ("population_id = :p AND member_id = :m AND owner = :w AND token = :t "
         "AND state = 'running'")
CLAIMABLE = "(state = 'idle' OR (state = 'running' AND lease_until < :now))"

SQL = {
    "population": ("SELECT target_steps, error FROM popbt_populations WHERE id = :p"),
    "pick": (f"SELECT member_id, pending FROM popbt_members WHERE population_id = :p AND "
             f"{CLAIMABLE} ORDER BY step, pending DESC, failures, member_id LIMIT 1"),
    "take": (f"UPDATE popbt_members SET state = 'running', owner = :w, "
             f"token = token + 1, lease_until = :until WHERE population_id = :p AND "
             f"member_id = :m AND {CLAIMABLE} RETURNING {MEMBER_COLS}"),
    "heartbeat": f"UPDATE popbt_members SET lease_until = :until WHERE {OWNED}",
    "release": f"UPDATE popbt_members SET state = 'idle', owner = NULL WHERE {OWNED}",
    "holders": ("SELECT member_id, owner, token FROM popbt_members WHERE population_id = :p "
                "AND state = 'running'"),
    "owned": (f"SELECT {MEMBER_COLS} FROM popbt_members WHERE {OWNED}"),
    "member": (f"SELECT {MEMBER_COLS} FROM popbt_members WHERE population_id = :p "
                      f"AND member_id = :m"),
    "peers": ("SELECT member_id, step, fitness FROM popbt_members "
              "WHERE population_id = :p AND version > :since"),
    "version": "SELECT version FROM popbt_populations WHERE id = :p",
    "bump": ("UPDATE popbt_populations SET version = version + 1 WHERE id = :p "
             "RETURNING version"),
    "history": (
        "SELECT member_id, fitness FROM (SELECT s.member_id, s.fitness, s.id, ROW_NUMBER() "
        "OVER (PARTITION BY s.member_id ORDER BY s.id DESC) AS rn FROM popbt_scores s "
        "JOIN popbt_members m ON m.population_id = s.population_id AND "
        "m.member_id = s.member_id WHERE s.population_id = :p AND s.id > m.history_since) h "
        "WHERE rn <= :window ORDER BY id"),
    "add_checkpoint": (
        "INSERT INTO popbt_checkpoints (population_id, member_id, step, path, checksum, size, "
        "created) VALUES (:p, :m, :step, :path, :checksum, :size, :now) RETURNING id"),
    "add_score": (
        "INSERT INTO popbt_scores (population_id, member_id, step, fitness, metrics, time) "
        "VALUES (:p, :m, :step, :fitness, :metrics, :now) RETURNING id"),
    "add_scores": (
        "INSERT INTO popbt_scores (population_id, member_id, step, fitness, metrics, time) "
        "VALUES (:p, :m, :step, :fitness, :metrics, :now)"),
    "add_event": (
        "INSERT INTO popbt_events (population_id, member_id, step, kind, time, data) "
        "VALUES (:p, :m, :step, :kind, :now, :data)"),
    "update_member": (
        f"UPDATE popbt_members SET step = :step, fitness = :fitness, metrics = :metrics, "
        f"checkpoint_id = :checkpoint_id, failures = :failures, error = :error, "
        f"hparams = :hparams, last_ready_step = :last_ready_step, ready_count = :ready_count, "
        f"history_since = :history_since, state = :state, owner = :owner, pending = :pending, "
        f"version = :version WHERE population_id = :p AND member_id = :m "
        f"RETURNING {MEMBER_COLS}"),
    "decided": (
        "UPDATE popbt_members SET step = :step, fitness = :fitness, metrics = :metrics, "
        "checkpoint_id = :checkpoint_id, hparams = :hparams, last_ready_step = :last_ready_step, "
        "history_since = :history_since, pending = 0, state = :state, version = :version "
        "WHERE population_id = :p AND member_id = :m"),
    "last_score": ("SELECT COALESCE(MAX(id), 0) FROM popbt_scores WHERE population_id = :p "
                   "AND member_id = :m"),
    "garbage": (
        "SELECT c.id, c.path FROM popbt_checkpoints c WHERE c.population_id = :p AND "
        "c.member_id = :m AND c.id NOT IN (SELECT id FROM popbt_checkpoints WHERE "
        "population_id = :p AND member_id = :m ORDER BY id DESC LIMIT :keep) AND NOT EXISTS "
        "(SELECT 1 FROM popbt_members WHERE population_id = :p AND checkpoint_id = c.id)"),
    "delete_checkpoint": "DELETE FROM popbt_checkpoints WHERE id = :id",
    "reported": ("SELECT 1 FROM popbt_checkpoints WHERE population_id = :p AND member_id = :m "
                 "AND path = :path"),
    "write_member": (
        "UPDATE popbt_members SET step = :step, fitness = :fitness, metrics = :metrics, "
        "hparams = :hparams, last_ready_step = :last_ready_step, ready_count = :ready_count, "
        "state = :state, checkpoint_id = :checkpoint_id, "
        "history_since = 0, pending = 0, version = :version "
        "WHERE population_id = :p AND member_id = :m"),
    "last_snapshot": ("SELECT MAX(id) FROM popbt_checkpoints WHERE population_id = :p "
                      "AND member_id = -1"),
}
SNAPSHOT_MEMBER = -1  # the member id of a checkpoint that holds the whole population
DECISIONS_PER_TRANSACTION = 1  # a transaction holds SQLite's write lock: keep it short
# Rows a transaction changes, locked on PostgreSQL as they are read. Every transaction that
# changes members locks its population's row first ("population"), so two never wait for
# each other's member rows in opposite orders (no deadlock).
LOCKED = ("population", "owned", "member")
