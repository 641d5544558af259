"""The sandbox acquirer's adapter: ``client`` (HTTP), ``mapping`` (JSON to dataclasses), ``webhooks``
(signature and events), ``settlement`` (the settlement report's CSV). ``settings.PROCESSORS[name]["adapter"]``
names ``client.SandboxProcessor``."""
