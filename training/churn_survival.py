"""Train churn_survival from its config, locally or as a Ray job (`--tune` runs the config's search):

python -m training.churn_survival --config training/configs/churn_survival.yaml -w WORKSPACE
ray job submit --working-dir . -- python -m training.churn_survival -c training/configs/churn_survival.yaml
"""

from training import main

if __name__ == "__main__":
    raise SystemExit(main("churn_survival"))
