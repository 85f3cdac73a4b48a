"""Gateway configuration: the validated model (`schema`), YAML loading with line numbers and the
zero-config defaults from the environment (`loader`), and provider presets (`presets`)."""

from oneflow_ai.config.loader import ConfigError, load_config
from oneflow_ai.config.schema import Deployment, GatewayConfig, ModelGroup, Timeouts

__all__ = ["ConfigError", "Deployment", "GatewayConfig", "ModelGroup", "Timeouts", "load_config"]
