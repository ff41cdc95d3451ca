#pragma once
// Records as text, for `dns lookup` (presentation format, close to dig's).
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "dns/wire.h"

namespace outpost::dns {

std::string rdata_text(std::span<const uint8_t> msg, const RecordView& rr);
std::string flags_text(uint16_t flags);  // "qr aa rd ra"

// {"id", "rcode", "flags", "question", "answer": [{name, ttl, type, data}], "authority", "additional"}
nlohmann::json message_json(std::span<const uint8_t> msg);

}  // namespace outpost::dns
