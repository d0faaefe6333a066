"""Train clv_bgnbd from its config, locally or as a Ray job (`--tune` runs the config's search):

python -m training.clv_bgnbd --config training/configs/clv_bgnbd.yaml -w WORKSPACE
ray job submit --working-dir . -- python -m training.clv_bgnbd --config training/configs/clv_bgnbd.yaml
"""

from training import main

if __name__ == "__main__":
    raise SystemExit(main("clv_bgnbd"))
