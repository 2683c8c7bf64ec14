"""Every statement `SQLStorage` runs, written once for every backend (the tables themselves
are created from `_schema`).

Statements use `:name` parameters (sqlite3's own style); `SQLStorage` rewrites them to
`%(name)s` for drivers that need it and runs them on the driver's cursor, skipping the
expression layer that would cost more than the transactions themselves. They hold no `%`
and no `::` (either would change meaning in that rewrite), bind no list (an `IN` list has a
fixed number of parameters), and return rows only through `RETURNING` or `SELECT`, which
SQLite (3.35 and later) and PostgreSQL both support.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from popbt.records import EventKind
from popbt.storage._schema import SCHEMA_VERSION, members

MEMBER_FIELDS = [c.name for c in members.c]
MEMBER_COLS = ", ".join(MEMBER_FIELDS)
POPULATION_FIELDS = ["id", "name", "config", "target_steps", "checkpoint_root", "error",
                     "created", "stopped", "trainable"]
POPULATION_COLS = ", ".join(POPULATION_FIELDS)
CHECKPOINT_COLS = "id, member_id, step, path, checksum, size"  # as `base.CheckpointRow`
MemberRow = namedtuple("MemberRow", MEMBER_FIELDS)  # type: ignore[misc]
PopulationRecord = namedtuple("PopulationRecord", POPULATION_FIELDS)  # type: ignore[misc]
SNAPSHOT_MEMBER = -1  # the member id of a checkpoint that holds the whole population

OWNED = ("population_id = :p AND member_id = :m AND owner = :w AND token = :t "
         "AND state = 'running'")
CLAIMABLE = "(state = 'idle' OR (state = 'running' AND lease_until < :now))"
KIND_SLOTS = [f"k{i}" for i in range(len(EventKind))]
OF_KINDS = f"kind IN ({', '.join(':' + k for k in KIND_SLOTS)})"


def _population_reads(cols: str, stopped: str) -> dict[str, str]:
    """The statements that read population rows, with `cols` and `stopped` as the columns
    they select."""
    return {
        "population_named": f"SELECT {cols} FROM popbt_populations WHERE name = :name",
        "populations": f"SELECT {cols} FROM popbt_populations ORDER BY id",
        "population": (f"SELECT target_steps, error, {stopped} FROM popbt_populations "
                       f"WHERE id = :p"),
    }


# A checkpoint a league entry points at is never garbage (not in a database without a league).
ENTRY_KEEPS = (" AND NOT EXISTS (SELECT 1 FROM popbt_league_entries WHERE population_id = :p "
               "AND checkpoint_id = c.id)")
MATCH_COLS = ("report_key, player, player_step, opponent, opponent_step, result, payoff, seed, "
              "id, time, player_rating, opponent_rating")  # as `LeagueMatchRow`

SQL = {
    # -- populations
    "add_population": (
        f"INSERT INTO popbt_populations (name, config, target_steps, checkpoint_root, error, "
        f"version, created, schema_version) VALUES (:name, :config, 0, :root, NULL, 0, :now, "
        f"{SCHEMA_VERSION}) RETURNING id"),
    "add_member": (
        "INSERT INTO popbt_members (population_id, member_id, hparams, step, fitness, "
        "metrics, state, checkpoint_id, last_ready_step, ready_count, history_since, "
        "pending, failures, error, owner, token, lease_until, version) VALUES (:p, :m, "
        ":hparams, 0, NULL, '{}', 'done', NULL, 0, 0, 0, 0, 0, NULL, NULL, 0, 0.0, 0)"),
    **_population_reads(POPULATION_COLS, "stopped"),
    "held": ("SELECT COUNT(*) FROM popbt_members WHERE population_id = :p AND "
             "state = 'running' AND lease_until >= :now"),
    "set_target": ("UPDATE popbt_populations SET target_steps = :steps, error = NULL, "
                   "stopped = NULL WHERE id = :p"),
    "revive": ("UPDATE popbt_members SET state = 'idle', failures = 0 WHERE population_id = :p "
               "AND step < :steps AND state IN ('done', 'failed')"),
    "finish": ("UPDATE popbt_members SET state = 'done' WHERE population_id = :p AND "
               "step >= :steps AND state = 'idle'"),
    "set_error": "UPDATE popbt_populations SET error = :error WHERE id = :p",
    "set_stopped": "UPDATE popbt_populations SET stopped = :reason WHERE id = :p",
    "set_trainable": "UPDATE popbt_populations SET trainable = :ref WHERE id = :p",
    "config": "SELECT config FROM popbt_populations WHERE id = :p",
    "set_config": "UPDATE popbt_populations SET config = :config WHERE id = :p",
    "start_member": ("UPDATE popbt_members SET checkpoint_id = :checkpoint_id "
                     "WHERE population_id = :p AND member_id = :m"),
    # -- resizing
    "active": ("SELECT COUNT(*) FROM popbt_members WHERE population_id = :p AND "
               "state <> 'retired'"),
    "next_member": ("SELECT COALESCE(MAX(member_id), -1) + 1 FROM popbt_members "
                    "WHERE population_id = :p"),
    "worst": ("SELECT member_id, step FROM popbt_members WHERE population_id = :p AND "
              "state <> 'retired' ORDER BY CASE WHEN fitness IS NULL THEN 0 ELSE 1 END, "
              "fitness, member_id DESC LIMIT :n"),
    "retire": ("UPDATE popbt_members SET state = 'retired', owner = NULL, pending = 0, "
               "version = :version WHERE population_id = :p AND member_id = :m"),
    "best_donor": (f"SELECT {MEMBER_COLS} FROM popbt_members WHERE population_id = :p AND "
                   f"fitness > :floor AND state <> 'retired' AND checkpoint_id IS NOT NULL "
                   f"ORDER BY fitness DESC, member_id LIMIT 1"),
    "grow_member": (
        "INSERT INTO popbt_members (population_id, member_id, hparams, step, fitness, "
        "metrics, state, checkpoint_id, last_ready_step, ready_count, history_since, "
        "pending, failures, error, owner, token, lease_until, version) VALUES (:p, :m, "
        ":hparams, :step, :fitness, :metrics, :state, :checkpoint_id, :step, 0, 0, 0, 0, NULL, "
        "NULL, 0, 0.0, :version)"),
    "version": "SELECT version FROM popbt_populations WHERE id = :p",
    "bump": ("UPDATE popbt_populations SET version = version + 1 WHERE id = :p "
             "RETURNING version"),
    # -- claims
    "pick": (f"SELECT member_id, pending FROM popbt_members WHERE population_id = :p AND "
             f"{CLAIMABLE} ORDER BY step, pending DESC, failures, member_id LIMIT 1"),
    "pick_bounded": (
        f"SELECT member_id, pending FROM popbt_members WHERE population_id = :p AND "
        f"{CLAIMABLE} AND step <= (SELECT MIN(step) FROM popbt_members WHERE "
        f"population_id = :p AND state IN ('idle', 'running')) + :lead "
        f"ORDER BY step, pending DESC, failures, member_id LIMIT 1"),
    "generation": (f"SELECT member_id FROM popbt_members WHERE population_id = :p AND "
                   f"pending = 1 AND step = :step AND {CLAIMABLE} "
                   f"ORDER BY failures, member_id"),
    "take": (f"UPDATE popbt_members SET state = 'running', owner = :w, "
             f"token = token + 1, lease_until = :until WHERE population_id = :p AND "
             f"member_id = :m AND {CLAIMABLE} RETURNING {MEMBER_COLS}"),
    "heartbeat": f"UPDATE popbt_members SET lease_until = :until WHERE {OWNED}",
    "release": f"UPDATE popbt_members SET state = 'idle', owner = NULL WHERE {OWNED}",
    "holders": ("SELECT member_id, owner, token FROM popbt_members WHERE population_id = :p "
                "AND state = 'running'"),
    "unfinished": ("SELECT COUNT(*) FROM popbt_members WHERE population_id = :p AND "
                   "state IN ('idle', 'running')"),
    "owned": (f"SELECT {MEMBER_COLS} FROM popbt_members WHERE {OWNED}"),
    # -- members and decisions
    "member": (f"SELECT {MEMBER_COLS} FROM popbt_members WHERE population_id = :p "
               f"AND member_id = :m"),
    "members": (f"SELECT {MEMBER_COLS} FROM popbt_members WHERE population_id = :p "
                f"ORDER BY member_id"),
    "best": (f"SELECT {MEMBER_COLS} FROM popbt_members WHERE population_id = :p AND "
             f"fitness > :floor AND state <> 'retired' ORDER BY fitness DESC, member_id "
             f"LIMIT 1"),
    "peers": ("SELECT member_id, step, CASE WHEN state = 'retired' THEN NULL ELSE fitness "
              "END, metrics FROM popbt_members WHERE population_id = :p AND version > :since"),
    "history": (
        "SELECT member_id, fitness FROM (SELECT s.member_id, s.fitness, s.id, ROW_NUMBER() "
        "OVER (PARTITION BY s.member_id ORDER BY s.id DESC) AS rn FROM popbt_scores s "
        "JOIN popbt_members m ON m.population_id = s.population_id AND "
        "m.member_id = s.member_id WHERE s.population_id = :p AND s.id > m.history_since) h "
        "WHERE rn <= :window ORDER BY id"),
    "samples": (
        "SELECT e.member_id, e.data FROM popbt_events e JOIN popbt_members m ON "
        "m.population_id = e.population_id AND m.member_id = e.member_id AND m.step = e.step "
        "WHERE e.population_id = :p AND e.kind = 'ready' ORDER BY e.id"),
    "history_events": ("SELECT member_id, kind, step, data FROM popbt_events "
                       "WHERE population_id = :p ORDER BY id"),
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
    # -- reports: checkpoints, scores, events
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
    "garbage": (
        "SELECT c.id, c.path FROM popbt_checkpoints c WHERE c.population_id = :p AND "
        "c.member_id = :m AND c.id NOT IN (SELECT id FROM popbt_checkpoints WHERE "
        "population_id = :p AND member_id = :m ORDER BY id DESC LIMIT :keep) AND NOT EXISTS "
        "(SELECT 1 FROM popbt_members WHERE population_id = :p AND checkpoint_id = c.id) "
        "AND NOT EXISTS (SELECT 1 FROM popbt_populations WHERE id = :p AND "
        "elite_checkpoint_id = c.id)" + ENTRY_KEEPS),
    "set_elite": (
        "UPDATE popbt_populations SET elite_checkpoint_id = :c, elite_fitness = :fitness, "
        "elite = :elite WHERE id = :p AND (elite_fitness IS NULL OR elite_fitness < :fitness)"),
    "elite": ("SELECT p.elite_checkpoint_id, p.elite_fitness, p.elite FROM popbt_populations p "
              "JOIN popbt_checkpoints c ON c.id = p.elite_checkpoint_id WHERE p.id = :p"),
    "delete_checkpoint": "DELETE FROM popbt_checkpoints WHERE id = :id",
    "reported": ("SELECT 1 FROM popbt_checkpoints WHERE population_id = :p AND member_id = :m "
                 "AND path = :path"),
    # -- whole rounds (the vectorized trainer)
    "write_member": (
        "UPDATE popbt_members SET step = :step, fitness = :fitness, metrics = :metrics, "
        "hparams = :hparams, last_ready_step = :last_ready_step, ready_count = :ready_count, "
        "state = :state, checkpoint_id = :checkpoint_id, "
        "history_since = 0, pending = 0, version = :version "
        "WHERE population_id = :p AND member_id = :m"),
    "write_genome": ("UPDATE popbt_members SET genome = :genome WHERE population_id = :p "
                     "AND member_id = :m"),
    "genomes": ("SELECT member_id, genome FROM popbt_members WHERE population_id = :p "
                "ORDER BY member_id"),
    "last_snapshot": (f"SELECT MAX(id) FROM popbt_checkpoints WHERE population_id = :p "
                      f"AND member_id = {SNAPSHOT_MEMBER}"),
    "latest_snapshot": (f"SELECT {CHECKPOINT_COLS} FROM popbt_checkpoints WHERE "
                        f"population_id = :p AND member_id = {SNAPSHOT_MEMBER} "
                        f"ORDER BY id DESC LIMIT 1"),
    "forget_scores": "DELETE FROM popbt_scores WHERE population_id = :p AND step > :step",
    "forget_events": "DELETE FROM popbt_events WHERE population_id = :p AND step > :step",
    "forget_checkpoints": ("DELETE FROM popbt_checkpoints WHERE population_id = :p AND "
                           "step > :step"),
    # -- reading records
    "events": ("SELECT id, member_id, step, kind, time, data FROM popbt_events WHERE "
               f"population_id = :p AND {OF_KINDS} ORDER BY id"),
    "member_events": ("SELECT id, member_id, step, kind, time, data FROM popbt_events WHERE "
                      f"population_id = :p AND member_id = :m AND {OF_KINDS} ORDER BY id"),
    "count_events": ("SELECT COUNT(*) FROM popbt_events WHERE population_id = :p AND "
                     "kind = :kind"),
    "scores": ("SELECT member_id, step, metrics, time, id FROM popbt_scores WHERE "
               "population_id = :p ORDER BY id"),
    "member_scores": ("SELECT member_id, step, metrics, time, id FROM popbt_scores WHERE "
                      "population_id = :p AND member_id = :m ORDER BY id"),
    "scores_after": ("SELECT member_id, step, metrics, time, id FROM popbt_scores WHERE "
                     "population_id = :p AND id > :after ORDER BY id"),
    "events_after": ("SELECT id, member_id, step, kind, time, data FROM popbt_events WHERE "
                     "population_id = :p AND id > :after ORDER BY id"),
    "checkpoint": (f"SELECT {CHECKPOINT_COLS} FROM popbt_checkpoints WHERE "
                   f"population_id = :p AND id = :id"),
    "checkpoint_paths": "SELECT DISTINCT path FROM popbt_checkpoints",
    # -- the league
    "add_entry": (
        "INSERT INTO popbt_league_entries (population_id, member_id, step, checkpoint_id, "
        "hparams, created) VALUES (:p, :m, :step, :c, :hparams, :now) "
        "ON CONFLICT (population_id, checkpoint_id) DO NOTHING"),
    "entry_of": ("SELECT id FROM popbt_league_entries WHERE population_id = :p AND "
                 "checkpoint_id = :c"),
    "entry_exists": "SELECT 1 FROM popbt_league_entries WHERE population_id = :p AND id = :id",
    "entries": (
        "SELECT e.id, e.member_id, e.step, e.checkpoint_id, e.hparams, r.rating, r.games, "
        "e.created FROM popbt_league_entries e LEFT JOIN popbt_ratings r ON "
        "r.population_id = e.population_id AND r.player = 'entry:' || CAST(e.id AS TEXT) "
        "WHERE e.population_id = :p ORDER BY e.id"),
    "member_exists": ("SELECT 1 FROM popbt_members WHERE population_id = :p AND "
                      "member_id = :m"),
    "seed_rating": (
        "INSERT INTO popbt_ratings (population_id, player, rating, games) "
        "VALUES (:p, :player, :rating, 0) ON CONFLICT (population_id, player) DO NOTHING"),
    "rating_of": ("SELECT rating, games FROM popbt_ratings WHERE population_id = :p AND "
                  "player = :player"),
    "set_rating": ("UPDATE popbt_ratings SET rating = :rating, games = games + 1 WHERE "
                   "population_id = :p AND player = :player"),
    "inherit_rating": (  # the WHERE lets SQLite parse ON CONFLICT after a SELECT
        "INSERT INTO popbt_ratings (population_id, player, rating, games) "
        "SELECT population_id, :member, rating, 0 FROM popbt_ratings WHERE population_id = :p "
        "AND player = :donor ON CONFLICT (population_id, player) DO UPDATE SET "
        "rating = excluded.rating"),
    "ratings": "SELECT player, rating, games FROM popbt_ratings WHERE population_id = :p",
    "match_by_key": (f"SELECT {MATCH_COLS} FROM popbt_matches WHERE population_id = :p AND "
                     f"report_key = :key"),
    "add_match": (
        "INSERT INTO popbt_matches (population_id, report_key, player, player_step, opponent, "
        "opponent_step, result, payoff, seed, player_rating, opponent_rating, time) VALUES "
        "(:p, :key, :player, :player_step, :opponent, :opponent_step, :result, :payoff, "
        ":seed, :player_rating, :opponent_rating, :now) RETURNING id"),
    "matches": (f"SELECT {MATCH_COLS} FROM popbt_matches WHERE population_id = :p AND "
                f"id > :after ORDER BY id"),
}


def old_statements(missing: frozenset[str]) -> dict[str, str]:
    """What a storage opened to read runs instead, on a database of an older popbt that lacks
    the columns named in `missing` (of `_upgrade.ADDED`): each read as NULL until a writer
    adds it."""
    cols = ", ".join("NULL" if f in missing else f for f in POPULATION_FIELDS)
    old = _population_reads(cols, "NULL" if "stopped" in missing else "stopped")
    if "genome" in missing:
        old["genomes"] = SQL["genomes"].replace("genome FROM", "NULL FROM")
    if "popbt_league_entries" in missing:
        old["garbage"] = SQL["garbage"].replace(ENTRY_KEEPS, "")
    return old


# The record each statement's rows come back as (others: plain tuples).
ROWS: dict[str, Any] = {
    **dict.fromkeys(("take", "owned", "member", "members", "best", "best_donor",
                     "update_member"), MemberRow),
    **dict.fromkeys(("population_named", "populations"), PopulationRecord),
}
DECISIONS_PER_TRANSACTION = 1  # a transaction holds SQLite's write lock: keep it short
# Rows a transaction changes, locked on PostgreSQL as they are read. Every transaction that
# changes members locks its population's row first ("population"), so two never wait for
# each other's member rows in opposite orders (no deadlock); a match locks the two players'
# rating rows ("rating_of") in the order of their keys, and nothing else.
LOCKED = ("population", "owned", "member", "rating_of")


def of_kinds(kinds: Sequence[EventKind]) -> dict[str, str | None]:
    """The parameters of `OF_KINDS` that select events of `kinds` (every kind when empty)."""
    chosen = list(dict.fromkeys(kinds)) if kinds else list(EventKind)
    return {slot: chosen[i].value if i < len(chosen) else None
            for i, slot in enumerate(KIND_SLOTS)}
