// Sources/LinearDynamics/StartRule.swift
/// How a sequence's (or a live stream's) state starts. See docs/MODEL.md, "Start rule".
public enum StartRule: String, Sendable, Equatable, CaseIterable {
    /// Exact diffuse initialisation: nothing is assumed about the first state; the first
    /// observations determine it (Durbin & Koopman ch. 5). The gaze domain's default.
    case diffuse
    /// The course's rule: the state starts at the first observed sample (its m values in the
    /// first m state entries, the rest of the state zero) with covariance sigma_0.
    case firstSample = "first-sample"
    /// pykalman's rule: the state starts at mu_0 with covariance sigma_0 (the reference cases).
    case parameters = "params"
}
