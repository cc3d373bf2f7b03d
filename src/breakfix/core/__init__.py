"""breakfix's data model and plugin registry."""

from .attempts import Attempt, Turn, attempt_id
from .items import Item, stable_id
from .messages import Conversation, Message, Response, TokenLogprob, assistant, system, user
from .registry import KINDS, PluginInfo, UnknownPluginError, create, get, list_plugins, register
from .scores import Label, Score

__all__ = [
    "Attempt", "Turn", "attempt_id", "Item", "stable_id", "Conversation", "Message", "Response",
    "TokenLogprob", "assistant", "system", "user", "KINDS", "PluginInfo", "UnknownPluginError",
    "create", "get", "list_plugins", "register", "Label", "Score",
]
