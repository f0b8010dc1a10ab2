"""The tests' one path setup. library/: unit tests of the package, no Snakemake; pipeline/: tests that run
Snakemake (the workflow, its profiles, clusters and clouds' stand-ins) or check the project as a user gets it;
fixtures/: what they share (the workflow runner, generated corpora, emulators, stand-ins, references)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The package, as the rule scripts import it (Snakemake puts scripts/ on their path).
sys.path.insert(0, os.path.join(ROOT, "scripts"))
# The developer tools (plan, dag and their jobgraph), tested as the modules they are.
sys.path.insert(1, os.path.join(ROOT, "tools"))
sys.path.insert(2, os.path.join(ROOT, "tests", "fixtures"))
