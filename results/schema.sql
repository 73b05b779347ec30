-- yardstick results store: the whole schema as a chain of forward
-- migrations. A database at PRAGMA user_version N gets every section after N
-- applied, in order, in one transaction each; a fresh file gets them all.
-- A database whose user_version is newer than the last section here was
-- written by a newer yardstick and is refused. Never edit a released
-- section: add a new one.

-- version: 1
CREATE TABLE models (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    path            TEXT,
    architecture    TEXT,
    n_params        INTEGER,
    dtype           TEXT,
    weights_sha256  TEXT,             -- of the weight files, in name order
    tokenizer_sha256 TEXT,
    UNIQUE (name, weights_sha256)
);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    model_id    INTEGER REFERENCES models(id),
    tasks       TEXT NOT NULL,         -- comma-separated task list as asked
    started_at  TEXT NOT NULL,         -- ISO 8601 UTC
    finished_at TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'imported')),
    version     TEXT NOT NULL,         -- yardstick version that wrote the run
    settings    TEXT NOT NULL DEFAULT '{}',  -- JSON: limit, fewshot, batch size, ...
    seed        INTEGER,
    threads     INTEGER,
    host        TEXT
);

CREATE TABLE task_results (
    run              INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    task             TEXT NOT NULL,
    metric           TEXT NOT NULL,
    filter           TEXT NOT NULL DEFAULT 'none',
    value            REAL,             -- NULL when undefined
    n                INTEGER,
    stderr           REAL,
    ci_low           REAL,
    ci_high          REAL,
    higher_is_better INTEGER NOT NULL DEFAULT 1,
    task_hash        TEXT,             -- SHA-256 of spec + data files
    PRIMARY KEY (run, task, metric, filter)
);

CREATE TABLE samples (
    run         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    task        TEXT NOT NULL,
    doc_id      INTEGER NOT NULL,
    input_hash  TEXT,
    prompt      TEXT,
    prediction  TEXT,
    target      TEXT,
    metrics     TEXT,                  -- JSON: per-sample metric values
    stats       TEXT,                  -- JSON: per-sample sufficient statistics
    logprobs    TEXT,                  -- JSON: log-likelihoods, greedy flags
    PRIMARY KEY (run, task, doc_id)
) WITHOUT ROWID;

-- Responses keyed on everything that determines a model's answer (weights
-- and tokenizer hashes, dtype, request token ids, generation settings,
-- yardstick version), hashed into `key`.
CREATE TABLE responses (
    key        TEXT PRIMARY KEY,
    response   TEXT NOT NULL,          -- JSON
    created_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX runs_by_model ON runs(model_id, id);
CREATE INDEX task_results_by_task ON task_results(task, metric);

-- version: 2
-- The first rendered prompt of each task in a run and its token ids, so a
-- template or tokenizer change (a doubled BOS, a lost space) is visible
-- next to the numbers it produced.
CREATE TABLE task_prompts (
    run        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    task       TEXT NOT NULL,
    prompt     TEXT NOT NULL,
    token_ids  TEXT NOT NULL,          -- JSON array
    PRIMARY KEY (run, task)
) WITHOUT ROWID;

-- version: 3
-- A model may be a base checkpoint with a PEFT LoRA adapter merged at load
-- (`yardstick run --adapter DIR`). Then weights_sha256 is the identity of
-- the weights evaluated — SHA-256 over the base's weight-file hash and the
-- adapter's — so two adapters on one base are two models (and never share
-- cached responses); the base's own hash and the adapter's folder and hash
-- are kept beside it. All three are NULL for a plain checkpoint.
ALTER TABLE models ADD COLUMN base_weights_sha256 TEXT;
ALTER TABLE models ADD COLUMN adapter_path TEXT;
ALTER TABLE models ADD COLUMN adapter_sha256 TEXT;  -- adapter_config.json + adapter_model.safetensors

-- version: 4
-- `yardstick run --kl-base DIR`: the run's kld_mean results (per task, the
-- mean KL divergence of the run's model from another model over the
-- continuation tokens, n = positions) are measured against this base, a
-- row of models like any other (name, path, weights and tokenizer hashes).
-- Runs compare their kld_mean only when their bases are the same weights.
-- NULL for every other run.
ALTER TABLE runs ADD COLUMN kl_base_model_id INTEGER REFERENCES models(id);
