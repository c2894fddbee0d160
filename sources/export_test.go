package sources

// ParsePrometheusAnswer is parsePrometheusAnswer, for the tests and the
// fuzz target of the parser.
var ParsePrometheusAnswer = parsePrometheusAnswer
