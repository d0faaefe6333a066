"""Train propensity from its config, locally or as a Ray job (`--tune` runs the config's search):

python -m training.propensity --config training/configs/propensity.yaml -w WORKSPACE
ray job submit --working-dir . -- python -m training.propensity --config training/configs/propensity.yaml
"""

from training import main

if __name__ == "__main__":
    raise SystemExit(main("propensity"))
