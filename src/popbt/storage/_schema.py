"""The tables every SQL storage holds. JSON lives in TEXT columns, written and read by popbt."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1

metadata = MetaData()

populations = Table(
    "popbt_populations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("config", Text, nullable=False),
    Column("target_steps", Integer, nullable=False, default=0),
    Column("checkpoint_root", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("version", Integer, nullable=False, default=0),
    Column("created", Float, nullable=False),
    Column("schema_version", Integer, nullable=False, default=SCHEMA_VERSION),
    Column("stopped", Text, nullable=True),  # added after version 1: see `_upgrade`
    Column("trainable", Text, nullable=True),  # added after version 1: see `_upgrade`
    # the best checkpoint ever reported (kept while it is): added after version 1
    Column("elite_checkpoint_id", Integer, nullable=True),
    Column("elite_fitness", Float, nullable=True),
    Column("elite", Text, nullable=True),  # JSON: member_id, step, score, hparams
    UniqueConstraint("name", name="uq_popbt_population_name"),
)

members = Table(
    "popbt_members", metadata,
    Column("population_id", Integer, ForeignKey("popbt_populations.id"), primary_key=True),
    Column("member_id", Integer, primary_key=True, autoincrement=False),
    Column("hparams", Text, nullable=False),
    Column("step", Integer, nullable=False, default=0),
    Column("fitness", Float, nullable=True),
    Column("metrics", Text, nullable=False, default="{}"),
    Column("state", String(16), nullable=False),
    Column("checkpoint_id", Integer, nullable=True),
    Column("last_ready_step", Integer, nullable=False, default=0),
    Column("ready_count", Integer, nullable=False, default=0),
    Column("history_since", Integer, nullable=False, default=0),
    Column("pending", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("owner", String(200), nullable=True),
    Column("token", Integer, nullable=False, default=0),
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("version", Integer, nullable=False, default=0),
    # a genetic population's seed-chain genome (`popbt.ga.Genome`): added after version 1
    Column("genome", LargeBinary, nullable=True),
    Index("ix_popbt_members_claim", "population_id", "state", "step"),
    Index("ix_popbt_members_version", "population_id", "version"),
    Index("ix_popbt_members_checkpoint", "population_id", "checkpoint_id"),
    Index("ix_popbt_members_peers", "population_id", "member_id", "step", "fitness"),
)

# The claim order (least advanced first, due decisions first, failing members last), so that
# a claim reads one index entry instead of sorting every member.
Index("ix_popbt_members_pick", members.c.population_id, members.c.step, members.c.pending.desc(),
      members.c.failures, members.c.member_id)

checkpoints = Table(
    "popbt_checkpoints", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("population_id", Integer, ForeignKey("popbt_populations.id"), nullable=False),
    Column("member_id", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("created", Float, nullable=False),
    Index("ix_popbt_checkpoints_member", "population_id", "member_id", "id"),
)

scores = Table(
    "popbt_scores", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("population_id", Integer, ForeignKey("popbt_populations.id"), nullable=False),
    Column("member_id", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("fitness", Float, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("time", Float, nullable=False),
    Index("ix_popbt_scores_member", "population_id", "member_id", "id"),
)

events = Table(
    "popbt_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("population_id", Integer, ForeignKey("popbt_populations.id"), nullable=False),
    Column("member_id", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("time", Float, nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_popbt_events_population", "population_id", "id"),
    Index("ix_popbt_events_member", "population_id", "member_id", "id"),
)

# -- the league (added after version 1: a database without these tables has no league)

league_entries = Table(
    "popbt_league_entries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("population_id", Integer, ForeignKey("popbt_populations.id"), nullable=False),
    Column("member_id", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("checkpoint_id", Integer, nullable=False),
    Column("hparams", Text, nullable=False),
    Column("created", Float, nullable=False),
    UniqueConstraint("population_id", "checkpoint_id", name="uq_popbt_league_entry"),
    Index("ix_popbt_league_entries_population", "population_id", "id"),
)

ratings = Table(  # one row per player ("member:<id>" or "entry:<id>") that has played
    "popbt_ratings", metadata,
    Column("population_id", Integer, ForeignKey("popbt_populations.id"), primary_key=True),
    Column("player", String(32), primary_key=True),
    Column("rating", Float, nullable=False),
    Column("games", Integer, nullable=False),
)

matches = Table(
    "popbt_matches", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("population_id", Integer, ForeignKey("popbt_populations.id"), nullable=False),
    Column("report_key", String(64), nullable=False),
    Column("player", String(32), nullable=False),
    Column("player_step", Integer, nullable=False),
    Column("opponent", String(32), nullable=False),
    Column("opponent_step", Integer, nullable=False),
    Column("result", Float, nullable=False),
    Column("payoff", Float, nullable=True),
    Column("seed", Integer, nullable=True),
    Column("player_rating", Float, nullable=False),
    Column("opponent_rating", Float, nullable=False),
    Column("time", Float, nullable=False),
    UniqueConstraint("population_id", "report_key", name="uq_popbt_match_report"),
    Index("ix_popbt_matches_population", "population_id", "id"),
)

LEAGUE_TABLES = (league_entries.name, ratings.name, matches.name)
