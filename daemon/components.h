#pragma once
// The one place that knows which components exist: builds them from the config.
#include <memory>
#include <vector>

#include "common/component.h"
#include "daemon/config_model.h"

namespace outpost {

std::vector<std::unique_ptr<Component>> build_components(const ComponentContext& context,
                                                         const config::Config& config);

}  // namespace outpost
