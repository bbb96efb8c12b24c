# {"xml": "<...>", "xpath": "//book/title"} -> {"count": n, "values": [text of each match]}
# XML that does not parse fails the invoke with errorType InvalidXml and libxml2's message.

handle <- function(event) {
  if (!is.character(event$xml) || !is.character(event$xpath)) {
    stop(condition("InvalidEvent", "the event needs strings 'xml' and 'xpath'"))
  }
  doc <- tryCatch(xml2::read_xml(event$xml), error = function(e) {
    stop(condition("InvalidXml", conditionMessage(e)))
  })
  nodes <- xml2::xml_find_all(doc, event$xpath)
  # I(): an array even when there is one match, so callers always get a list of strings.
  list(count = length(nodes), values = I(xml2::xml_text(nodes)))
}

condition <- function(class, message) {
  structure(class = c(class, "error", "condition"), list(message = message, call = NULL))
}
