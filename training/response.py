"""Train response from its config, locally or as a Ray job (`--tune` runs the config's search):

python -m training.response --config training/configs/response.yaml -w WORKSPACE
ray job submit --working-dir . -- python -m training.response --config training/configs/response.yaml
"""

from training import main

if __name__ == "__main__":
    raise SystemExit(main("response"))
