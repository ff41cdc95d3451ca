#include "daemon/components.h"

namespace outpost {

std::vector<std::unique_ptr<Component>> build_components(const ComponentContext& /*context*/,
                                                         const config::Config& /*config*/) {
  std::vector<std::unique_ptr<Component>> out;
  // Components register here as they land (dns, sipalg, dataplane, vpn).
  return out;
}

}  // namespace outpost
