"""Train churn from its config, locally or as a Ray job (`--tune` runs the config's search):

python -m training.churn --config training/configs/churn.yaml -w WORKSPACE
ray job submit --working-dir . -- python -m training.churn --config training/configs/churn.yaml
"""

from training import main

if __name__ == "__main__":
    raise SystemExit(main("churn"))
