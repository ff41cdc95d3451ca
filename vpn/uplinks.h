#pragma once
// outpost's uplinks, as the rest of the daemon sees them: a Component that routes the
// vendor's prefixes over the primary private link or the encrypted WireGuard backup,
// probes both, fails over and back, and answers `show uplinks`, `diag uplinks` and
// `uplink prefer primary|backup|auto`. Metrics: outpost_uplink_*.
// Everything else in vpn/ is private to the folder (see vpn/README.md for the map).
#include <memory>

#include "common/component.h"
#include "daemon/config_model.h"

namespace outpost::vpn {

// True when the config describes at least one uplink (the component has work to do).
bool uplinks_configured(const config::Config& config);

std::unique_ptr<Component> make_uplink_component(const ComponentContext& context, const config::Config& config);

}  // namespace outpost::vpn
