import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The rules' scripts import each other as top-level modules, as they do when Snakemake runs them.
sys.path.insert(0, os.path.join(ROOT, "scripts"))
# The developer tools (plan, dag and their jobgraph), tested as the modules they are.
sys.path.insert(1, os.path.join(ROOT, "tools"))
