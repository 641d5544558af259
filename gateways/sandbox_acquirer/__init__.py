"""The sandbox acquirer's adapter: ``client`` (HTTP), ``mapping`` (JSON to dataclasses), ``webhooks``
(signature and events). ``settings.PROCESSORS[name]["adapter"]`` names ``client.SandboxProcessor``."""
