# The two commands of the README: `make demo` (the seed walkthrough in a lab)
# and `make test` (the whole suite). Both run the set-up step first.
.PHONY: setup build demo test lint clean-labs
setup:
	@scripts/setup.sh
build:
	@npm run -s build
demo: setup
	@node dist/src/lab/demo.js
test: setup
	@npm run -s lint
	@npm test
lint:
	@npm run -s lint && npm run -s format:check
clean-labs:
	@bin/berth lab clean
